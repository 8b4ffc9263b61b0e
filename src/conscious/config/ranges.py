"""The valid range of each kind of setting, carried in its type: a negative interval, a port out
of range or a fraction above one is refused when the config is read, with one line naming the key,
the value and what is allowed — not accepted and run with (``observation_interval = -5`` was)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A duration or interval: more than zero."""
Wait = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A duration that may be zero (no grace, no window)."""
Every = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""How often something happens, in seconds; 0: never (off)."""
Count = Annotated[int, Field(ge=1)]
"""How many of something, at least one."""
Quantity = Annotated[int, Field(ge=0)]
"""How many of something, zero allowed (zero turns it off where the setting says so)."""
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A probability or a fill: 0 to 1."""
Amount = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A positive quantity (megabytes, percent, days)."""
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""US dollars, zero allowed."""
Port = Annotated[int, Field(ge=0, le=65535)]
"""A TCP port; 0: any free one."""
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
