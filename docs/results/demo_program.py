# instruction: insert the battery into slot 4 in the front row
battery_candidates = detect('battery')
slot_candidates = detect('slot')
slot = sel_pos(slot_candidates, 'front 4 from left')
battery = sel_pos(battery_candidates, 'nearest', slot)
attend(battery, slot)
