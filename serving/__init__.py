"""The HTTP service (BentoML) and everything that runs a trained model for users: the service and its auth, limits,
audit log and encoders; the server launcher (``launch``), offline batch scoring (``batch``) and the Bento build
(``bento``). Never imports ``training``."""
