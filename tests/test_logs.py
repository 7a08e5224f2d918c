"""What the runs print of the libraries they drive."""

import logging

from causalgear.logs import quiet_libraries


def test_a_warning_bitsandbytes_repeats_on_every_forward_pass_is_said_once(caplog):
    quiet_libraries()
    quiet_libraries()  # a second call adds no second filter
    log = logging.getLogger("bitsandbytes.autograd._functions")
    with caplog.at_level(logging.WARNING):
        for _ in range(40):
            log.warning("MatMul8bitLt: inputs will be cast from torch.float32 to float16 during quantization")
        log.warning("another message")
    assert [r.getMessage()[:12] for r in caplog.records] == ["MatMul8bitLt", "another mess"]
