-- Cód. 14 of the thesis: exercises Lua's garbage collector (the thesis's
-- in-kernel allocator was the bottleneck here). Always refuses.
function process()
    local tb = {}
    for i = 1, 131072 do
        tb[i] = i
    end
    return false
end
