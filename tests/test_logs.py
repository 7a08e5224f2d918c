"""What the runs print of the libraries they drive."""

import logging
import uuid

from causalgear.logs import quiet_libraries


def test_a_warning_bitsandbytes_repeats_on_every_forward_pass_is_said_once(caplog):
    quiet_libraries()
    quiet_libraries()  # a second call adds no second filter
    log = logging.getLogger("bitsandbytes.autograd._functions")
    repeated, other = f"MatMul8bitLt: inputs will be cast ({uuid.uuid4()})", f"another message ({uuid.uuid4()})"
    with caplog.at_level(logging.WARNING):
        for _ in range(40):
            log.warning(repeated)
        log.warning(other)
    assert [r.getMessage() for r in caplog.records] == [repeated, other]
