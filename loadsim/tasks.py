"""The to-do list workload: tasks added, described again, completed and reopened, with a share of
commands the domain must reject (unknown tasks, tasks added twice, completing a completed task)."""

from __future__ import annotations

import random
from typing import Any

from examples import tasks

from .workload import Plan, Step, Workload, differences


class TasksWorkload(Workload):
    name = "tasks"
    app = tasks.app
    app_path = "examples.tasks:app"
    default_entities, default_commands = 2_000, 20_000
    quick_entities, quick_commands = 200, 2_000

    def task(self, i: int) -> str:
        return f"{self.prefix}task-{i}"

    def plan(self) -> Plan:
        rng, main = random.Random(self.seed), []
        model: dict[str, Any] = {}
        for _ in range(self.commands):
            # now and then a task id beyond the ones that exist: the domain says task_not_found
            i = rng.randrange(self.entities + self.entities // 20)
            key, roll = self.task(i), rng.random()
            task = model.get(key)
            if roll < 0.25 or task is None and roll < 0.6:
                command = tasks.AddTask(task_id=key, description=f"do {i} ({rng.randrange(10**6)})")
                step = self._add(model, key, command)
            elif roll < 0.45:
                update = tasks.UpdateDescription(task_id=key, description=f"redo {i} ({rng.randrange(10**6)})")
                step = self._change(model, key, update, "description", update.description, None)
            elif roll < 0.8:
                step = self._change(model, key, tasks.CompleteTask(task_id=key), "completed", True,
                                    "task_already_completed")
            else:
                step = self._change(model, key, tasks.ReopenTask(task_id=key), "completed", False,
                                    "task_not_completed")
            main.append(step)
        return Plan([], main, {"tasks": model})

    @staticmethod
    def _add(model: dict, key: str, command: tasks.AddTask) -> Step:
        if key in model:
            return Step(command, key, "rejected", "task_already_exists", observe=dict(model[key]))
        model[key] = {"task_id": key, "description": command.description, "completed": False}
        return Step(command, key, "accepted", observe=dict(model[key]))

    @staticmethod
    def _change(model: dict, key: str, command, field: str, value: Any, same_code: str | None) -> Step:
        task = model.get(key)
        if task is None:
            return Step(command, key, "rejected", "task_not_found", observe=None)
        if same_code is not None and task[field] == value:
            return Step(command, key, "rejected", same_code, observe=dict(task))
        task[field] = value
        return Step(command, key, "accepted", observe=dict(task))

    def query_for(self, key: str) -> tasks.GetTask:
        return tasks.GetTask(task_id=key)

    def observed(self, answer: Any) -> Any:
        return answer

    def check_views(self, views, plan, *, whole_log):
        board, expected = views["task_board"].tasks, plan.model["tasks"]
        actual = {k: v for k, v in board.items() if k.startswith(f"{self.prefix}task-")}
        return differences("task", expected, actual), {"tasks": len(expected)}
