"""The base of the errors pypireg raises for its caller to handle: ``except
pypireg.PypiregError`` catches every one of them (a catalog rule broken, a catalog that
cannot be written or reached, a setting, a grant, a rule or a policy that is not valid, a
distribution or an archive refused), and none of the bugs. Each error keeps its own
class too, and those that were ``ValueError`` still are."""

from __future__ import annotations


class PypiregError(Exception):
    """An error of pypireg's, whose message says what was wrong."""
