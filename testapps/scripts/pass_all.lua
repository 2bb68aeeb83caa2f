-- Accepts every message: recv behaves as if no script were attached.
function process(s)
    return true
end
