"""`python -m kinema ...` (what `torchrun -m kinema train ...` runs)."""

from kinema.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
