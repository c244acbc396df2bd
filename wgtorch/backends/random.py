def generate(*a):
    raise NotImplementedError
