"""`python -m cranium_etl.sandbox`: run the sandbox from the command line."""

import sys

from cranium_etl.sandbox.cli import run_sandbox_cli

sys.exit(run_sandbox_cli(sys.argv[1:]))
