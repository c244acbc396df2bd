"""placeholder"""


class IndexOps:
    pass
