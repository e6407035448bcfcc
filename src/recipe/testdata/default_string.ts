// A default export that is not a recipe at all.
export default "hello";
