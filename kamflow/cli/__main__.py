"""`python -m kamflow.cli`."""

from kamflow.cli import main

main()
