"""Serving: a local TF Serving gRPC server (server.py) and the `colorize` client (client.py)."""


def op_error_text(message: str) -> str:
  """The cause line of a TensorFlow op error, without the graph-execution preamble and node list."""
  return message.split('\n\t [[')[0].strip().splitlines()[-1]
