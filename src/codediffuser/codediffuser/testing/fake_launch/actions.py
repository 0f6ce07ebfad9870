"""Fake `launch.actions`: the actions typical launch files use."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from codediffuser.testing.fake_launch import EXTERNAL_SHARE, ExternalInclude, LaunchContext, LaunchError
from codediffuser.testing.fake_launch.substitutions import SomeSubstitutions, perform_substitutions


class Action:
    """Base class: `execute(context)` may return more actions to run."""

    def __init__(self, *, condition: Any = None) -> None:
        self.condition = condition

    def execute(self, context: LaunchContext) -> list[Any] | None:
        raise NotImplementedError


class DeclareLaunchArgument(Action):
    """Declares an argument; without a default it is required, `choices` restricts its values."""

    def __init__(
        self,
        name: str,
        *,
        default_value: SomeSubstitutions | None = None,
        description: str = "",
        choices: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name, self.default_value, self.description, self.choices = (
            name,
            default_value,
            description,
            choices,
        )

    def execute(self, context: LaunchContext) -> None:
        from codediffuser.testing.fake_launch import DeclaredArgument

        default = None if self.default_value is None else perform_substitutions(context, self.default_value)
        context.arguments[self.name] = DeclaredArgument(self.name, default, self.description)
        if self.name not in context.launch_configurations:
            if default is None:
                raise LaunchError(f"launch argument '{self.name}' is required and was not given")
            context.launch_configurations[self.name] = default
        value = context.launch_configurations[self.name]
        if self.choices is not None and value not in self.choices:
            raise LaunchError(f"launch argument '{self.name}' must be one of {self.choices}, got {value!r}")


class SetLaunchConfiguration(Action):
    """Sets a launch configuration in the current scope."""

    def __init__(self, name: SomeSubstitutions, value: SomeSubstitutions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name, self.value = name, value

    def execute(self, context: LaunchContext) -> None:
        context.launch_configurations[perform_substitutions(context, self.name)] = perform_substitutions(
            context, self.value
        )


class IncludeLaunchDescription(Action):
    """Runs another launch file with arguments, in its own scope (launch leaks them; we do not)."""

    def __init__(
        self,
        launch_description_source: Any,
        *,
        launch_arguments: Iterable[tuple] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.launch_description_source = launch_description_source
        self.launch_arguments = list(launch_arguments or [])

    def execute(self, context: LaunchContext) -> None:
        path = perform_substitutions(context, self.launch_description_source.launch_file_path)
        arguments = {
            perform_substitutions(context, k): perform_substitutions(context, v)
            for k, v in self.launch_arguments
        }
        if path.startswith(EXTERNAL_SHARE + "/"):
            context.includes.append(ExternalInclude(path, arguments))
            return
        with context.scope():
            context.launch_configurations.update(arguments)
            context.run_file(path)


class OpaqueFunction(Action):
    """Calls `function(context, *args, **kwargs)` and runs the actions it returns."""

    def __init__(
        self,
        *,
        function: Callable,
        args: Iterable[Any] | None = None,
        kwargs: dict | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.function, self.args, self.kwargs = function, list(args or []), dict(kwargs or {})

    def execute(self, context: LaunchContext) -> list[Any] | None:
        return self.function(context, *self.args, **self.kwargs)


class GroupAction(Action):
    """Runs `actions`, by default in a scope that restores configurations and namespace afterwards."""

    def __init__(
        self,
        actions: Iterable[Any],
        *,
        scoped: bool = True,
        launch_configurations: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**{k: v for k, v in kwargs.items() if k == "condition"})
        self.actions, self.scoped, self.configurations = (
            list(actions),
            scoped,
            dict(launch_configurations or {}),
        )

    def execute(self, context: LaunchContext) -> None:
        def run() -> None:
            for key, value in self.configurations.items():
                context.launch_configurations[perform_substitutions(context, key)] = perform_substitutions(
                    context, value
                )
            context.visit(self.actions)

        if self.scoped:
            with context.scope():
                run()
        else:
            run()


class TimerAction(Action):
    """Runs `actions` (the delay does not matter to a recording)."""

    def __init__(self, *, period: Any, actions: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.period, self.actions = period, list(actions)

    def execute(self, context: LaunchContext) -> list[Any]:
        return self.actions


class LogInfo(Action):
    """Records a message in `context.logs`."""

    def __init__(self, *, msg: SomeSubstitutions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.msg = msg

    def execute(self, context: LaunchContext) -> None:
        context.logs.append(perform_substitutions(context, self.msg))
