"""Every program linked with LibTorch names the C++ runtime (libstdc++) before any of LibTorch's
libraries, so that a symbol both define is looked up in the runtime first. Some PyTorch wheels'
libtorch.so export their own copy of parts of the runtime (2.11's: all of std::filesystem); with
LibTorch first, our std::filesystem calls ran that copy, which crashed on Debian 12
(cmake/TorchBackends.cmake).

    python3 tests/structure/runtime_first.py PROGRAM...

Exit 0 when the order holds in every program; 1 with one line per program where it does not."""
import subprocess
import sys


def needed_libraries(program):
    """The program's DT_NEEDED entries, in the order the loader searches them."""
    dynamic = subprocess.run(["readelf", "--dynamic", "--wide", program], check=True,
                             capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0] for line in dynamic.splitlines() if "(NEEDED)" in line]


def main():
    problems = []
    for program in sys.argv[1:]:
        needed = needed_libraries(program)
        torch = [position for position, name in enumerate(needed) if name.startswith(("libtorch", "libc10"))]
        runtime = [position for position, name in enumerate(needed) if name.startswith("libstdc++.so")]
        if not torch:
            problems.append(f"{program}: links no LibTorch library (needed: {', '.join(needed)})")
        elif not runtime or runtime[0] > torch[0]:
            problems.append(f"{program}: {needed[torch[0]]} comes before libstdc++ (needed: {', '.join(needed)})")
    print("\n".join(problems) or f"libstdc++ before LibTorch in {len(sys.argv) - 1} programs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
