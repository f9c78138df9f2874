// node's fs.watch on directory argv[2] sees a file made after the watch
// starts; prints the event and the name.
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const w = fs.watch(dir, (ev, name) => { console.log(ev, name); w.close(); });
setTimeout(() => fs.writeFileSync(path.join(dir, 'made.txt'), 'x'), 100);
