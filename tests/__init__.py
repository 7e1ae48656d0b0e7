"""The tests of pypireg: test_*.py modules, their fixtures in conftest.py, and the helper
modules they share (helpers.py and the others beside it); the end-to-end tests in e2e/."""
