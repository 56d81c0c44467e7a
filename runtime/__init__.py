"""mcuforge host runtime: the TFLite reference on the host, the Pi camera pipeline, the serial link."""
