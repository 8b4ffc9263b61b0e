"""The daemon: the stages assembled (``assemble.py``) and run until stopped (``serve.py``)."""
