-- Cód. 12 of the thesis: the simplest entry point. Under the original module
-- print went to dmesg; under luawrap it goes to luawrap's log.
function process()
    print("Hello, Kernel World!")
    return true
end
