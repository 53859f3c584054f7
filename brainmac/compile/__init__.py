"""Compile a network description into quantized, partitioned, packed arrays."""

from brainmac.compile.compiled import CompiledNetwork
from brainmac.compile.compiler import compile_network
from brainmac.compile.profiles import PROFILES, Profile, get_profile

__all__ = ["PROFILES", "CompiledNetwork", "Profile", "compile_network", "get_profile"]
