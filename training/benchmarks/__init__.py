"""Measurements on data the models never saw: the DREAM-2012 external benchmark (``dream2012``) and subtype
recovery over simulator seeds (``subtype_recovery``)."""
