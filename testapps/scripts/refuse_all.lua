-- Refuses every message: every inspected recv fails with ECONNREFUSED.
function process(s)
    return false
end
