-- Driver for lua5.4: reads cases (one per line) from the file arg[2] and
-- prints one result line per case. arg[1] is diffcore.lua.
dofile(arg[1])
for line in io.lines(arg[2]) do
  io.write(runline(line), "\n")
end
