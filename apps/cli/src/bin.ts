import { main } from './index';

main(process.argv).then((code) => {
  process.exitCode = code;
});
