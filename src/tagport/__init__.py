"""tagport: the audience group offline service of a tag platform."""

__version__ = "0.1.0"
