"""A to-do list: add, update description, complete, reopen; views by id and open/completed lists."""

from __future__ import annotations

from pydantic import Field

from actors import Aggregate, App, Command, DomainError, Event, Projection, Query, answers, applies, handles

Description = Field(min_length=1, max_length=1000)


class AddTask(Command):
    encore_target = "task_id"
    task_id: str = Field(min_length=1, max_length=100)
    description: str = Description


class UpdateDescription(Command):
    encore_target = "task_id"
    task_id: str = Field(min_length=1, max_length=100)
    description: str = Description


class CompleteTask(Command):
    encore_target = "task_id"
    task_id: str = Field(min_length=1, max_length=100)


class ReopenTask(Command):
    encore_target = "task_id"
    task_id: str = Field(min_length=1, max_length=100)


class TaskAdded(Event):
    task_id: str
    description: str


class DescriptionUpdated(Event):
    task_id: str
    description: str


class TaskCompleted(Event):
    task_id: str


class TaskReopened(Event):
    task_id: str


class Task(Aggregate):
    encore_type = "task"

    def __init__(self) -> None:
        self.exists, self.done = False, False

    def _require(self, task_id: str) -> None:
        if not self.exists:
            raise DomainError("task_not_found", f"task {task_id} does not exist; add it first")

    @handles(AddTask)
    def add(self, c: AddTask) -> list[Event]:
        if self.exists:
            raise DomainError("task_already_exists", f"task {c.task_id} already exists")
        return [TaskAdded(task_id=c.task_id, description=c.description)]

    @handles(UpdateDescription)
    def update(self, c: UpdateDescription) -> list[Event]:
        self._require(c.task_id)
        return [DescriptionUpdated(task_id=c.task_id, description=c.description)]

    @handles(CompleteTask)
    def complete(self, c: CompleteTask) -> list[Event]:
        self._require(c.task_id)
        if self.done:
            raise DomainError("task_already_completed", f"task {c.task_id} is already completed")
        return [TaskCompleted(task_id=c.task_id)]

    @handles(ReopenTask)
    def reopen(self, c: ReopenTask) -> list[Event]:
        self._require(c.task_id)
        if not self.done:
            raise DomainError("task_not_completed", f"task {c.task_id} is open; only completed tasks reopen")
        return [TaskReopened(task_id=c.task_id)]

    @applies(TaskAdded)
    def _added(self, e: TaskAdded) -> None:
        self.exists = True

    @applies(TaskCompleted)
    def _completed(self, e: TaskCompleted) -> None:
        self.done = True

    @applies(TaskReopened)
    def _reopened(self, e: TaskReopened) -> None:
        self.done = False


class GetTask(Query):
    task_id: str


class ListOpenTasks(Query):
    pass


class ListCompletedTasks(Query):
    pass


class TaskBoard(Projection):
    encore_name = "task_board"

    def __init__(self) -> None:
        self.tasks: dict[str, dict] = {}

    @applies(TaskAdded)
    def _added(self, e: TaskAdded, stored) -> None:
        self.tasks[e.task_id] = {"task_id": e.task_id, "description": e.description, "completed": False}

    @applies(DescriptionUpdated)
    def _updated(self, e: DescriptionUpdated, stored) -> None:
        self.tasks[e.task_id]["description"] = e.description

    @applies(TaskCompleted)
    def _completed(self, e: TaskCompleted, stored) -> None:
        self.tasks[e.task_id]["completed"] = True

    @applies(TaskReopened)
    def _reopened(self, e: TaskReopened, stored) -> None:
        self.tasks[e.task_id]["completed"] = False

    @answers(GetTask)
    def task(self, q: GetTask) -> dict | None:
        return self.tasks.get(q.task_id)

    @answers(ListOpenTasks)
    def open_tasks(self, q: ListOpenTasks) -> dict:
        return {"tasks": sorted(t for t, v in self.tasks.items() if not v["completed"])}

    @answers(ListCompletedTasks)
    def completed_tasks(self, q: ListCompletedTasks) -> dict:
        return {"tasks": sorted(t for t, v in self.tasks.items() if v["completed"])}


app = App("tasks", aggregates=[Task], projections=[TaskBoard])
