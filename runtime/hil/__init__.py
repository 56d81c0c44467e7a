"""Hardware-in-the-loop validation over a serial link (docs/protocol.md)."""
