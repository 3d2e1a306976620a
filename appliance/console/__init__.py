"""The staff console (``appliance console``): a Textual app that only talks to the daemon's control API."""
