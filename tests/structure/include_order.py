"""No include runs upward between src/ folders: every `#include "folder/..."` in src/<a>/ names a
folder at or below <a> in the order docs/ARCHITECTURE.md writes on its "Layers, lowest first:"
line, and every folder of src/ is on that line.

    python3 tests/structure/include_order.py SOURCE_DIR

Exit 0 when the order holds; 1 with one line per offending include (file:line, the folders)."""
import re
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"')


def layers(architecture):
    for line in architecture.read_text().splitlines():
        if line.startswith("Layers, lowest first:"):
            return [name.strip() for name in line.split(":", 1)[1].split(",")]
    raise SystemExit(f"{architecture}: no 'Layers, lowest first:' line")


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    order = layers(root / "docs" / "ARCHITECTURE.md")
    rank = {name: position for position, name in enumerate(order)}
    problems = []
    folders = sorted(path.name for path in (root / "src").iterdir() if path.is_dir())
    for folder in folders:
        if folder not in rank:
            problems.append(f"src/{folder}/: not on the 'Layers, lowest first:' line of docs/ARCHITECTURE.md")
    for folder in folders:
        for source in sorted((root / "src" / folder).glob("*.[ch]pp")):
            for number, line in enumerate(source.read_text().splitlines(), 1):
                match = INCLUDE.match(line)
                if not match or match.group(1) not in rank or folder not in rank:
                    continue
                if rank[match.group(1)] > rank[folder]:
                    problems.append(f"{source.relative_to(root)}:{number}: {folder}/ includes {match.group(1)}/, "
                                    "which is above it")
    for problem in problems:
        print(problem)
    print(f"{len(folders)} folders, {len(problems)} upward includes")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
