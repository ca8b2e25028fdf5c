// RequestTiming: only the newest reply slot of a request carries its timing.

import Testing
@testable import MagentCore

@Suite struct RequestTimingTests {
    @Test("a request's later slot takes the timing from its earlier one; a recycled earlier slot is left alone")
    func newestSlotCarriesTheTiming() {
        let slots = ReplySlotTable()
        var timing = RequestTiming(parsedAt: 1_000, family: .get)
        let (firstHandle, first) = slots.acquire()
        timing.stamp(first, firstHandle, slots: slots)
        #expect(first.requestStart == 1_000 && first.requestFamily == .get && timing.lastSlot == firstHandle)

        let (secondHandle, second) = slots.acquire()
        timing.stamp(second, secondHandle, slots: slots)
        #expect(first.requestStart == 0)
        #expect(second.requestStart == 1_000 && timing.lastSlot == secondHandle)

        // The second slot left and was recycled for another request before a third came.
        slots.release(secondHandle)
        let (reusedHandle, reused) = slots.acquire()
        reused.requestStart = 7
        let (thirdHandle, third) = slots.acquire()
        timing.stamp(third, thirdHandle, slots: slots)
        #expect(reusedHandle.index == secondHandle.index && reused.requestStart == 7)
        #expect(third.requestStart == 1_000 && timing.lastSlot == thirdHandle)
    }
}
