"""The local model server's knobs and their defaults, which are tensorflow_model_server's.

Kept free of imports so the CLI can show them in --help without loading TensorFlow.
"""
POLL_SECONDS = 1.0                      # --file_system_poll_wait_seconds
MAX_MESSAGE_BYTES = 64 * 1024 * 1024    # largest request accepted; larger ones: RESOURCE_EXHAUSTED
                                        # over gRPC, 413 over REST (the limit is the JSON body's)
MAX_LOAD_RETRIES = 5                    # --max_num_load_retries
LOAD_RETRY_INTERVAL_SECONDS = 60.0      # --load_retry_interval_micros
REST_TIMEOUT_SECONDS = 30.0             # --rest_api_timeout_in_ms: a longer prediction is stopped
