"""placeholder"""


class MatmulOps:
    pass
