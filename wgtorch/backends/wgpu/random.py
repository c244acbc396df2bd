"""placeholder"""


class RandomOps:
    pass
