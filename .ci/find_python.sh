# Sourced by the CI scripts: find_python X.Y prints the path of a working Python X.Y (on PATH, or installed by
# pyenv), or nothing; newest_python prints the newest of 3.13 and 3.12 found.
find_python() {
  local candidate
  for candidate in "python$1" "$(pyenv root 2> /dev/null || echo /nonexistent)"/versions/"$1"*/bin/python"$1"; do
    if "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$1'.split('.')))" 2> /dev/null; then
      command -v "$candidate"
      return
    fi
  done
}

newest_python() {
  local found
  found="$(find_python 3.13)"
  echo "${found:-$(find_python 3.12)}"
}
