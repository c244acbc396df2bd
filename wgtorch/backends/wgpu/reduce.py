"""placeholder"""


class ReduceOps:
    pass
