"""Where raw data come from: the native tables (``native``), PRO-ACT exports (``proact/``) and the DREAM-2012
feature table (``dream2012``); ``registry`` picks the importer for a source name and returns a cohort."""
