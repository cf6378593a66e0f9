"""`python -m segen`: the command line (what torchrun runs: `torchrun --nproc-per-node N -m segen seg train ...`)."""

from segen.cli.main import main

main()
