"""The built-in tier simulator: an OpenAI- and MAI-compatible stand-in for the image vendors.

Used in demos, end-to-end tests and benchmarks; the gateway reaches it over HTTP through
litellm exactly as it reaches the real vendors.
"""

from gateway.simulator.app import create_simulator_app
from gateway.simulator.config import FaultSettings, Profile, SimulatorConfig
from gateway.simulator.server import RunningSimulator, run_simulator, running_simulator

__all__ = [
    "FaultSettings",
    "Profile",
    "RunningSimulator",
    "SimulatorConfig",
    "create_simulator_app",
    "run_simulator",
    "running_simulator",
]
