import pytest

from metacurate.engine.local import run_tasks


class Square:
    def __init__(self):
        self.warmed = False

    def warm_up(self):
        self.warmed = True

    def __call__(self, x):
        if x < 0:
            raise ValueError(f"negative task {x}")
        return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_every_task_reported_once(workers):
    done = {}
    worker = Square()
    run_tasks(worker, list(range(20)), workers, lambda task, result: done.setdefault(task, result))
    assert done == {x: x * x for x in range(20)}
    assert worker.warmed  # warmed in this process, before any worker started


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_task_raises_its_error(workers):
    with pytest.raises(ValueError, match="negative task -1"):
        run_tasks(Square(), [1, 2, -1, 3], workers, lambda task, result: None)
