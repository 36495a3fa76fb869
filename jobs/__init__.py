"""ringfence's command line and batch jobs: the only layer that imports both
:mod:`graph` and :mod:`models`."""
