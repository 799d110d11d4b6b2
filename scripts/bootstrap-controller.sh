#!/usr/bin/env bash
# The controller venv (.venv): ansible, Molecule, linters, pytest, from the lock requirements.txt.
exec "$(dirname "$0")/sync-venv.sh" .venv requirements.txt
