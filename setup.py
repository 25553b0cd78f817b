"""Build the optional C accelerator for log scanning.

The extension is optional: if it cannot be compiled, wormsign falls back to a pure-Python
implementation with the same results (see ``wormsign.logs.fastpath``).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Do not fail the install when no C compiler is present."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001
            print(f"warning: C accelerator not built ({exc}); using the pure-Python path")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"warning: {ext.name} not built ({exc}); using the pure-Python path")


setup(
    ext_modules=[
        Extension(
            "wormsign.logs._clfscan",
            ["src/wormsign/logs/_clfscan.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "wormsign.logs._connscan",
            ["src/wormsign/logs/_connscan.c"],
            extra_compile_args=["-O2"],
            libraries=["m"],
            optional=True,
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
