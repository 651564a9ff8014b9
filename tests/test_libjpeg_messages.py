"""libjpeg's warnings caught from file descriptor 2 and phrased; everything else passed on."""
import os

from colorization.serving import libjpeg_messages


def test_warnings_are_kept_and_other_output_passes_through(capfd):
  with libjpeg_messages.captured() as caught:
    os.write(2, b'Corrupt JPEG data: premature end of data segment\n'
                b'some other library speaks\n'
                b'Premature end of JPEG file\n')
  assert caught.lines == ['Corrupt JPEG data: premature end of data segment',
                          'Premature end of JPEG file']
  assert capfd.readouterr().err == 'some other library speaks\n'
  os.write(2, b'after the block\n')
  assert capfd.readouterr().err == 'after the block\n'


def test_nothing_written_is_nothing_caught(capfd):
  with libjpeg_messages.captured() as caught:
    pass
  assert caught.lines == [] and capfd.readouterr().err == ''


def test_phrased_as_part_of_a_line():
  assert libjpeg_messages.phrased('Corrupt JPEG data: 12 extraneous bytes before marker 0xd9') == \
      'corrupt JPEG data (12 extraneous bytes before marker 0xd9)'
  assert libjpeg_messages.phrased('Premature end of JPEG file') == 'premature end of JPEG file'
  assert libjpeg_messages.phrased('Warning: unknown JFIF revision number 3.01') == \
      'unknown JFIF revision number 3.01'
