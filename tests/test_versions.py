"""Version choice and load retries: TF Serving's retry count and interval, then retried on change."""
import shutil
import time

import pytest
from tensorflow_serving.apis import get_model_status_pb2

from colorization.models import features
from colorization.serving import versions as versions_lib

State = get_model_status_pb2.ModelVersionStatus.State


def states(versions: versions_lib.ModelVersions) -> dict[int, int]:
  spec = get_model_status_pb2.GetModelStatusRequest().model_spec
  spec.name = features.MODEL_NAME
  return {status.version: status.state for status in versions.status(spec)}


def test_failed_version_is_retried_at_the_interval_then_again_when_its_files_change(
    small_export, tmp_path):
  shutil.copytree(small_export, tmp_path / '1')
  versions = versions_lib.ModelVersions(str(tmp_path), features.MODEL_NAME, max_load_retries=1,
                                        load_retry_interval_seconds=0.5)
  versions.poll()
  assert versions.current.version == 1
  (tmp_path / '2').mkdir()  # half copied: the graph is there, the variables are not yet
  shutil.copy(tmp_path / '1' / 'saved_model.pb', tmp_path / '2')
  versions.poll()
  assert versions.load_attempts(2) == 1 and states(versions)[2] == State.START
  versions.poll()  # before the interval: no new attempt
  assert versions.load_attempts(2) == 1
  time.sleep(0.5)
  versions.poll()
  assert versions.load_attempts(2) == 2 and states(versions)[2] == State.END
  assert versions.load_error(2)
  time.sleep(0.5)
  versions.poll()  # every retry used: nothing until the files change
  assert versions.load_attempts(2) == 2 and versions.current.version == 1

  shutil.copytree(tmp_path / '1' / 'variables', tmp_path / '2' / 'variables')
  versions.poll()  # the change is seen; the load waits for a poll without further change
  assert versions.current.version == 1
  versions.poll()
  assert versions.current.version == 2
  assert states(versions) == {1: State.END, 2: State.AVAILABLE}
  assert versions.load_error(2) == '' and versions.load_attempts(2) == 0


@pytest.mark.parametrize('retries', [0, 2])
def test_retry_count_is_tf_servings_retries_after_the_first_attempt(tmp_path, retries):
  (tmp_path / '3').mkdir()
  (tmp_path / '3' / 'saved_model.pb').write_bytes(b'not a SavedModel')
  versions = versions_lib.ModelVersions(str(tmp_path), features.MODEL_NAME,
                                        max_load_retries=retries, load_retry_interval_seconds=0)
  for _ in range(retries + 3):
    versions.poll()
  assert versions.load_attempts(3) == retries + 1 and states(versions) == {3: State.END}
