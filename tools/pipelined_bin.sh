# Sourced by the tools that run pipelined: sets `bin` to $BIN when given (a copied binary, so a rebuild while a long
# run goes on cannot swap it out), else to a fresh release build.
if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  swift build -c release --product pipelined >/dev/null
  bin=$PWD/.build/release/pipelined
fi
