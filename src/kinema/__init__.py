"""kinema: a Sora-style video world model you can train and run on a CPU.

Heavy modules are imported lazily so that `kinema --help` answers quickly.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
