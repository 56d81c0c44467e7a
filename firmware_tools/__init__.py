"""mcuforge firmware tools: build generated C for the host or a board, size it, run it."""
