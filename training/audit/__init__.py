"""What auditors use: listing, reproducing and carding runs (``runs``) and comparing two runs (``compare``)."""
