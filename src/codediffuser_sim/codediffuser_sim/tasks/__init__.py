"""Built-in tasks; importing this package registers them with `codediffuser_sim.env.register_task`."""

from codediffuser_sim.tasks import pack_battery, stow_books

__all__ = ["pack_battery", "stow_books"]
