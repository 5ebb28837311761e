"""skelssl: self-supervised representation learning on human skeleton sequences."""

from skelssl.errors import SkelsslError

__all__ = ["SkelsslError", "__version__"]
__version__ = "0.1.0"
